// Opening the store for a deployment: PostgreSQL when a URL is given, else SQLite in a file. Each
// driver is loaded only when chosen, so a PostgreSQL deployment never loads SQLite's native module.
import type { CdsrValidator } from '../cdsr/validate.js';
import { SqlStore } from './sql-store.js';

export type StoreTarget =
  | { readonly kind: 'sqlite'; readonly file: string; readonly synchronous?: 'FULL' | 'NORMAL'; readonly derive?: 'later' | 'with-message' }
  | {
      readonly kind: 'postgres';
      readonly url: string;
      readonly schema?: string;
      readonly statementTimeoutMs?: number;
      readonly retentionRewrite?: 'full' | 'off';
    };

export async function openStore(target: StoreTarget, validator: CdsrValidator): Promise<SqlStore> {
  if (target.kind === 'postgres') {
    const { PostgresExecutor } = await import('./postgres-executor.js');
    return SqlStore.open(
      await PostgresExecutor.open({
        url: target.url,
        ...(target.schema !== undefined ? { schema: target.schema } : {}),
        ...(target.statementTimeoutMs !== undefined ? { statementTimeoutMs: target.statementTimeoutMs } : {}),
        ...(target.retentionRewrite !== undefined ? { retentionRewrite: target.retentionRewrite } : {}),
      }),
      { validator },
    );
  }
  const { SqliteExecutor } = await import('./sqlite-executor.js');
  return SqlStore.open(new SqliteExecutor({ file: target.file, ...(target.synchronous ? { synchronous: target.synchronous } : {}) }), {
    validator,
    ...(target.derive ? { derive: target.derive } : {}),
  });
}

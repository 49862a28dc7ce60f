// The validators of the routes' schemas, compiled once per process for each distinct schema.
// fastify compiles every route's schemas with a fresh Ajv for each application it builds; the
// service builds one, but the tests build hundreds, and compiling was a tenth of the unit suite's
// CPU time. Here every application of the process draws on one pool (fastify's own compiler,
// @fastify/ajv-compiler, with each application's Ajv options as before), and a schema compiled
// once, whatever object carries it, is not compiled again: the key is the schema's JSON text with
// the application's options and external schemas, so applications built with different options
// never share a validator.
import AjvCompiler from '@fastify/ajv-compiler';
import type { FastifyServerOptions } from 'fastify';

type BuildValidator = NonNullable<NonNullable<NonNullable<FastifyServerOptions['schemaController']>['compilersFactory']>['buildValidator']>;
/** What fastify passes to the compile function (@fastify/ajv-compiler's types declare a bare schema, but fastify passes this). */
interface RouteSchema {
  schema: unknown;
  method?: string;
  url?: string;
  httpPart?: string;
}
type Validate = (data: unknown) => unknown;
type Pool = (externalSchemas: unknown, options: unknown) => (route: RouteSchema) => Validate;

const pool = AjvCompiler() as unknown as Pool;
const compiled = new Map<string, Validate>();

const shared: Pool = (externalSchemas, options) => {
  const build = pool(externalSchemas, options);
  const prefix = `${JSON.stringify(externalSchemas)}\n${JSON.stringify(options)}\n`;
  return (route) => {
    // fastify lower-cases a headers schema's names for its own compiler, not for one given to it
    if (route.httpPart === 'headers')
      throw new Error(`${route.method ?? ''} ${route.url ?? ''}: a headers schema is not supported by the shared validators (validators.ts)`);
    const key = prefix + JSON.stringify(route.schema);
    let validate = compiled.get(key);
    if (validate === undefined) {
      validate = build(route);
      compiled.set(key, validate);
    }
    return validate;
  };
};

/** fastify's `schemaController.compilersFactory.buildValidator`, shared by every application of the process. */
export const sharedValidators = shared as unknown as BuildValidator;

/** How many distinct schemas were compiled in this process (for the test that they are compiled once). */
export const compiledSchemas = (): number => compiled.size;

// A failing COMMIT never yields AA, on PostgreSQL (the cases: commit-failure.suite.ts); skipped
// with the reason when no PostgreSQL answers.
import { commitFailureTests, nonTransientCommitFailureTests } from './commit-failure.suite.js';

commitFailureTests('postgres');
nonTransientCommitFailureTests();

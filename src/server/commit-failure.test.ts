// A failing COMMIT never yields AA, on SQLite (the cases: commit-failure.suite.ts).
import { commitFailureTests } from './commit-failure.suite.js';

commitFailureTests('sqlite');

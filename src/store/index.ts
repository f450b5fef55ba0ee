// Front door of the store: the only module that imports better-sqlite3.
export { openStore, type Store, type StoreOptions, type Migration, type Db } from './database.js';
export { StoreErrors } from './errors.js';
export { backupDatabase, type DatabaseBackup } from './backup.js';
export { statement } from './statements.js';
export { createCommitGroup, type CommitGroup, type CommitGroupOptions, type CommitJobOptions } from './commit-group.js';

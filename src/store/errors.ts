// Error codes of the SQLite store.
import { defineErrors } from '../core/index.js';

export const StoreErrors = defineErrors('store', {
  STORE_OPEN_FAILED: {
    status: 500,
    meaning: 'the SQLite database file could not be opened or prepared',
    fix: 'check that the Writ home folder exists, is writable and is not on a network file system',
  },
  STORE_MIGRATION_FAILED: {
    status: 500,
    meaning: 'a schema migration failed; the database was left at the last good version',
    fix: 'read the cause; restore from a backup if the file was edited by hand',
  },
  STORE_NEWER_SCHEMA: {
    status: 500,
    meaning: 'the database was written by a newer Writ whose migrations this version does not know',
    fix: 'run the newer Writ version, or point `WRIT_HOME` at another folder',
  },
  STORE_BACKUP_FAILED: {
    status: 500,
    meaning: 'an online backup of the database could not be written: the destination could not be created, or SQLite failed while copying (the partial copy is removed)',
    fix: 'back up into a folder you can write, on a disk with room; read the cause for the system\'s or SQLite\'s message',
  },
  STORE_BACKUP_TARGET_EXISTS: {
    status: 409,
    meaning: 'a backup was pointed at a file that already exists; a backup never overwrites',
    fix: 'back up into a new file or an empty folder',
  },
  STORE_BUSY: {
    status: 503,
    meaning: 'the database stayed locked by another writer past the busy timeout',
    fix: 'retry; if it persists, look for a long-running writer on the same file',
  },
});

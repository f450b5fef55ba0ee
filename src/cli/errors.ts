// Error codes of the command line.
import { defineErrors } from '../core/index.js';

export const CliErrors = defineErrors('cli', {
  CLI_USAGE: {
    status: 400,
    meaning: 'the command line has an unknown command, an unknown flag or a missing argument',
    fix: 'run `writ --help` or `writ COMMAND --help`',
  },
  CLI_SERVER_UNREACHABLE: {
    status: 503,
    meaning: 'the Writ server named by `--server` or `WRIT_SERVER` did not answer, or answered with something that is not Writ JSON',
    fix: 'check the URL and that `writ serve` runs there; unset `WRIT_SERVER` to work on the local home instead',
  },
  CLI_TARGET_EXISTS: {
    status: 409,
    meaning: '`writ init` or `writ backup` was pointed at a folder that already has files in it; neither ever overwrites',
    fix: 'pick a new or empty folder',
  },
  CLI_HOME_NOT_FOUND: {
    status: 404,
    meaning: 'an audit or backup command found no Writ home (no `writ.db`, or a home without its signing keys) where `WRIT_HOME` points; they only read a home, they never create one',
    fix: 'point `WRIT_HOME` (or `home` in `WRIT_CONFIG`) at the home to audit or back up',
  },
  CLI_RECORD_NOT_FOUND: {
    status: 404,
    meaning: 'the id given on the command line names nothing: no API key with that id (`keys revoke`), or no ledger entry naming it (`audit lineage`, `audit impact`)',
    fix: 'check the id: `writ keys list` lists key ids, `writ audit tail` shows recent record ids',
  },
});

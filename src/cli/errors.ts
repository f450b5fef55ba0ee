// Error codes of the command line.
import { defineErrors } from '../core/index.js';

export const CliErrors = defineErrors('cli', {
  CLI_USAGE: {
    status: 400,
    meaning: 'the command line has an unknown command, an unknown flag or a missing argument',
    fix: 'run `writ --help` or `writ COMMAND --help`',
  },
});

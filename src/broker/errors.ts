// Error codes of the broker. Add new codes to this one object (one code, one meaning, forever).
import { defineErrors } from '../core/index.js';

export const BrokerErrors = defineErrors('broker', {
  BROKER_CATALOG_INVALID: {
    status: 500,
    meaning: 'the catalog has one or more problems; `details.issues` lists every one',
    fix: 'correct each listed problem in the catalog file and start again',
  },
  BROKER_CATALOG_UNREADABLE: {
    status: 500,
    meaning: 'the catalog file cannot be read or parsed as JSON or YAML',
    fix: 'check the path and the syntax of the catalog file',
  },
});

// Exit codes of the `writ` command: scripts tell "denied" apart from "failed".
export const EXIT = {
  /** The command did what was asked. */
  OK: 0,
  /** Something failed (a part is down, an internal error). */
  FAILURE: 1,
  /** The input was invalid: bad flags, arguments or files. */
  INVALID_INPUT: 2,
  /** Policy denied the request (a result, not a failure). */
  DENIED: 3,
  /** The named record does not exist. */
  NOT_FOUND: 4,
  /** The request needs an approval before it can go on. */
  NEEDS_APPROVAL: 5,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

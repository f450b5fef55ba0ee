// Exit codes of the `writ` command: scripts tell "denied" apart from "failed".
// docs/cli.md#exit-codes documents them; keep the two in step.
export const EXIT = {
  /** The command did what was asked. */
  OK: 0,
  /** Something failed (a part is down, an internal error, a broken ledger, failing fixtures). */
  FAILURE: 1,
  /** The input was invalid: bad flags, arguments or files, or a conflict with the current state. */
  INVALID_INPUT: 2,
  /** Policy denied the request, or the key or warrant was refused (a result, not a failure). */
  DENIED: 3,
  /** The named record does not exist. */
  NOT_FOUND: 4,
  /** The request needs an approval before it can go on. */
  NEEDS_APPROVAL: 5,
  /** Interrupted by Ctrl-C (an interrupted ingest resumes when run again). */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code of a decision outcome: allow 0, deny 3, needs approval 5. */
export function exitCodeOfOutcome(outcome: 'allow' | 'deny' | 'needs_approval'): ExitCode {
  return outcome === 'allow' ? EXIT.OK : outcome === 'deny' ? EXIT.DENIED : EXIT.NEEDS_APPROVAL;
}

// Parsing at boundaries: zod issues become one INVALID_INPUT error listing every problem.
import type { z } from 'zod';
import { CoreErrors, WritError, type InputIssue } from './errors.js';

/** Converts zod issues to Writ's stable issue shape. */
export function toInputIssues(issues: ReadonlyArray<z.core.$ZodIssue>): InputIssue[] {
  return issues.map((issue) => ({
    path: issue.path.length === 0 ? '(root)' : issue.path.map(String).join('.'),
    code: issue.code,
    message: issue.message,
  }));
}

/**
 * Parses `input` with `schema`, or throws INVALID_INPUT with every issue.
 *
 * @example
 * const proposal = parseInput(ProposalSchema, body, 'proposal');
 */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what = 'input'): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = toInputIssues(result.error.issues);
  const first = issues[0];
  const summary = first === undefined ? '' : `: \`${first.path}\`: ${first.message}`;
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  throw new WritError(CoreErrors.INVALID_INPUT, `invalid ${what}${summary}${more}`, { details: { issues } });
}

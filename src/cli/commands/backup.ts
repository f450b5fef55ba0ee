// `writ backup DEST`: a consistent copy of a Writ home, safe while a server runs on it —
// the database through SQLite's online backup, the signing keyrings, the ledger's anchor
// file — verified before the command says it is done. Chroma's data is not copied: it is
// rebuilt from SQLite, which holds every vector, when a server first starts on the copy.
import { chmodSync, copyFileSync, createReadStream, existsSync, mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { WRIT_VERSION, WritError, openKeyring } from '../../core/index.js';
import { createLedger, type LedgerVerification } from '../../ledger/index.js';
import { StoreErrors, backupDatabase, openStore } from '../../store/index.js';
import { argsOf, noExtraPositionals } from '../args.js';
import { CliErrors } from '../errors.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { cliConfig } from '../local-home.js';
import { requireLocal, REMOTE_OPTIONS } from '../remote.js';
import type { CommandContext, CommandSpec } from '../command.js';

/** The keyrings a home signs with; a backup without them could not verify its own ledger. */
const KEYRINGS = ['ledger', 'warrant'] as const;
/** Written last, so a folder with it is a finished backup. */
export const BACKUP_MANIFEST = 'BACKUP.json';

export interface BackupManifest {
  readonly writ: string;
  readonly createdAt: string;
  readonly source: { readonly home: string; readonly anchorFile: string | null };
  /** Every file of the backup, relative to its folder, with its size and SHA-256. */
  readonly files: ReadonlyArray<{ readonly path: string; readonly bytes: number; readonly sha256: string }>;
  /** `verify` of the copy's ledger, with the copy's own keys and anchor. */
  readonly ledger: { readonly ok: boolean; readonly checked: number; readonly headSeq: number; readonly headHash: string; readonly problem?: string };
}

async function sha256OfFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * Copies a keyring folder: the manifest first, then the key files. A rotation running
 * meanwhile adds a key file before it names it in the manifest, so every key the copied
 * manifest names is among the files copied after it; opening the copy checks that. The
 * lock and a rotation's temporary files are not part of a keyring.
 */
function copyKeyring(from: string, to: string, purpose: (typeof KEYRINGS)[number]): void {
  mkdirSync(to, { recursive: true, mode: 0o700 });
  chmodSync(to, 0o700);
  copyFileSync(join(from, 'keyring.json'), join(to, 'keyring.json'));
  for (const name of readdirSync(from)) {
    if (name === 'keyring.json' || name.startsWith('.') || name.endsWith('.tmp') || name.endsWith('.lock')) continue;
    try {
      if (statSync(join(from, name)).isFile()) copyFileSync(join(from, name), join(to, name));
    } catch (err) {
      // Gone since the listing (a rotation's own cleanup): not part of the keyring.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  for (const name of readdirSync(to)) chmodSync(join(to, name), 0o600);
  openKeyring({ dir: to, purpose });
}

function verifyCopy(dest: string, checkpointEvery: number, anchorFile: string | undefined): LedgerVerification {
  const store = openStore({ path: join(dest, 'writ.db'), readonly: true });
  try {
    // Opened as `writ audit` opens a home: read-only, nothing signed or written on close.
    const ledger = createLedger({
      store,
      keyring: openKeyring({ dir: join(dest, 'keys', 'ledger'), purpose: 'ledger' }),
      checkpointEvery,
      ...(anchorFile === undefined ? {} : { anchorFile }),
    });
    try {
      return ledger.verify();
    } finally {
      ledger.close();
    }
  } finally {
    store.close();
  }
}

/** The copying itself: folder, anchor, database, keyrings, in that order. */
async function copyHome(ctx: CommandContext, config: { home: string; broker: { anchorFile?: string | undefined } }, database: string, dest: string) {
  // Private keys go in here: owner-only, like the home's own keys folder.
  mkdirSync(dest, { recursive: true, mode: 0o700 });
  chmodSync(dest, 0o700);

  // INVARIANT: the anchor is copied before the database. It names only checkpoints already
  // durable in the database, so the snapshot taken next holds the one it names.
  const anchorSource = config.broker.anchorFile ?? null;
  const anchorCopy = join(dest, 'ledger-anchor.json');
  const hasAnchor = anchorSource !== null && existsSync(anchorSource);
  if (hasAnchor) {
    copyFileSync(anchorSource, anchorCopy);
    chmodSync(anchorCopy, 0o600);
  }
  ctx.out.info(`backup: copying \`${database}\` (${(statSync(database).size / 1048576).toFixed(1)} MB, and its write-ahead log)…`);
  const db = await backupDatabase(database, join(dest, 'writ.db'));
  for (const purpose of KEYRINGS) copyKeyring(join(config.home, 'keys', purpose), join(dest, 'keys', purpose), purpose);
  return { db, hasAnchor, anchorSource, anchorCopy };
}

export const backupCommand: CommandSpec = {
  name: 'backup',
  summary: 'copy the home (database, signing keys, ledger anchor) while it runs, and verify the copy',
  usage: 'writ backup DEST',
  options: { ...REMOTE_OPTIONS },
  async run(ctx: CommandContext): Promise<ExitCode> {
    const args = argsOf(ctx, 'backup');
    noExtraPositionals(ctx, 'backup', 1);
    requireLocal(ctx, 'backup');
    const dest = resolve(args.positional(0, 'DEST (a new or empty folder)'));
    const config = cliConfig(ctx.env);
    const database = join(config.home, 'writ.db');
    if (!existsSync(database)) {
      throw new WritError(CliErrors.CLI_HOME_NOT_FOUND, `no Writ home at \`${config.home}\` (no \`writ.db\`)`, { details: { home: config.home } });
    }
    for (const purpose of KEYRINGS) {
      const keyring = join(config.home, 'keys', purpose);
      if (!existsSync(join(keyring, 'keyring.json'))) {
        throw new WritError(CliErrors.CLI_HOME_NOT_FOUND, `the home has no ${purpose} keyring (\`${keyring}\`): it cannot be backed up whole`, { details: { keyring } });
      }
    }
    if (existsSync(dest) && (!statSync(dest).isDirectory() || readdirSync(dest).length > 0)) {
      throw new WritError(CliErrors.CLI_TARGET_EXISTS, `\`${dest}\` is not a new or empty folder: a backup never overwrites`, { details: { path: dest } });
    }
    const started = Date.now();
    const existed = existsSync(dest);
    const { db, hasAnchor, anchorSource, anchorCopy } = await copyHome(ctx, config, database, dest).catch((err: unknown) => {
      // A failed backup leaves nothing behind, so running it again into the same folder works.
      try {
        if (existed) for (const name of readdirSync(dest)) rmSync(join(dest, name), { recursive: true, force: true });
        else rmSync(dest, { recursive: true, force: true });
      } catch {
        // The error to report is the copy's.
      }
      if (err instanceof WritError) throw err;
      throw new WritError(StoreErrors.STORE_BACKUP_FAILED, `backing up to \`${dest}\` failed: ${(err as Error).message}`, { cause: err, details: { destPath: dest } });
    });

    ctx.out.info('backup: verifying the copy\'s ledger…');
    const verification = verifyCopy(dest, config.broker.checkpointEvery, hasAnchor ? anchorCopy : undefined);
    const relative = ['writ.db', ...(hasAnchor ? ['ledger-anchor.json'] : []), ...KEYRINGS.flatMap((p) => readdirSync(join(dest, 'keys', p)).sort().map((f) => join('keys', p, f)))];
    const files = [];
    for (const path of relative) files.push({ path, bytes: statSync(join(dest, path)).size, sha256: await sha256OfFile(join(dest, path)) });
    const manifest: BackupManifest = {
      writ: WRIT_VERSION,
      createdAt: new Date().toISOString(),
      source: { home: config.home, anchorFile: hasAnchor ? anchorSource : null },
      files,
      ledger: {
        ok: verification.ok,
        checked: verification.checked,
        headSeq: verification.head.seq,
        headHash: verification.head.hash,
        ...(verification.firstBad === undefined ? {} : { problem: `${verification.firstBad.problem} at entry ${verification.firstBad.seq}: ${verification.firstBad.message}` }),
      },
    };
    writeFileSync(join(dest, BACKUP_MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });

    const elapsed = ((Date.now() - started) / 1000).toFixed(1);
    const verdict = verification.ok
      ? `ledger verified: ${verification.checked} entries, head ${verification.head.seq}`
      : `the copy's ledger is BROKEN: ${manifest.ledger.problem} — the home's own ledger is likely broken too: run \`writ audit verify\``;
    ctx.out.result({ dest, elapsedMs: Date.now() - started, pages: db.pages, ...manifest }, [
      `backed up ${config.home} to ${dest} in ${elapsed} s: writ.db (${(db.bytes / 1048576).toFixed(1)} MB), keys (${KEYRINGS.join(', ')})${hasAnchor ? ', ledger-anchor.json' : ''}`,
      verdict,
      'Chroma\'s vectors are not copied: a server started on a restored home writes them again from SQLite',
    ].join('\n'));
    return verification.ok ? EXIT.OK : EXIT.FAILURE;
  },
};

// Which B-tree pages a broker round trip writes to the WAL: runs propose → decide → issue
// warrant → execute on a real SQLite file (sample support-desk catalog and policies), then
// reads the WAL's frame headers and names the table or index owning each page (dbstat).
// Every page a commit touches is written whole (4 KiB), so this is where the WAL volume —
// and with it the checkpoints' cost — comes from.
// Run: node --import tsx bench/wal-pages.ts [warmupRoundTrips] [measuredRoundTrips]
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openBrokerStack } from './broker-stack.js';

const WARMUP = Number(process.argv[2] ?? 2000);
const N = Number(process.argv[3] ?? 150);
const { dir, store, broker, sam } = openBrokerStack('writ-wal-pages-');
const roundTrip = (i: number): void => {
  const params = { amountCents: 1000 + (i % 5000), currency: 'EUR', orderId: `ord-${i}`, recipientAccount: 'DE44500105175407324931' };
  const p = broker.propose(sam, { action: 'refund.request', targetId: `rf-${i}`, params });
  broker.decide(p.id);
  broker.execute(broker.issueWarrant(sam, p.id).token);
};

// A store of some size first (B-trees several levels deep), then an empty WAL that no
// checkpoint restarts while we measure (a restart would overwrite frames counted here).
for (let i = 0; i < WARMUP; i++) roundTrip(i);
store.db.pragma('wal_checkpoint(TRUNCATE)');
store.db.pragma('wal_autocheckpoint = 0');
for (let i = WARMUP; i < WARMUP + N; i++) roundTrip(i);

const wal = readFileSync(join(dir, 'writ.db-wal'));
const pageSize = wal.readUInt32BE(8);
const framesByPage = new Map<number, number>();
let frames = 0;
let commits = 0;
for (let off = 32; off + 24 + pageSize <= wal.length; off += 24 + pageSize) {
  const page = wal.readUInt32BE(off);
  // A commit's last frame records the database size after it; the others hold 0.
  if (wal.readUInt32BE(off + 4) !== 0) commits++;
  framesByPage.set(page, (framesByPage.get(page) ?? 0) + 1);
  frames++;
}
const owner = new Map<number, string>();
for (const r of store.db.prepare('SELECT name, pageno, pagetype FROM dbstat').all() as Array<{ name: string; pageno: number; pagetype: string }>) {
  owner.set(r.pageno, `${r.name} (${r.pagetype})`);
}
const byOwner = new Map<string, number>();
for (const [page, n] of framesByPage) {
  const name = page === 1 ? 'page 1 (database header)' : (owner.get(page) ?? 'free or other');
  byOwner.set(name, (byOwner.get(name) ?? 0) + n);
}
console.log(`commits per round trip: ${(commits / N).toFixed(2)}`);
console.log(`WAL frames per round trip: ${(frames / N).toFixed(1)} (${N} round trips after ${WARMUP}; page size ${pageSize} B)`);
console.log('| pages of | frames per round trip |');
console.log('|---|---|');
for (const [name, n] of [...byOwner].sort((a, b) => b[1] - a[1])) if (n / N >= 0.05) console.log(`| ${name} | ${(n / N).toFixed(2)} |`);
store.close();
rmSync(dir, { recursive: true, force: true });

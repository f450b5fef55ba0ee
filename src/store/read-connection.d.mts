import type Database from 'better-sqlite3';

/** Opens the existing database file at `path` read-only. */
export function openReadConnection(path: string): Database.Database;

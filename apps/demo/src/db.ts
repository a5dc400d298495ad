/**
 * The demo's own user and session store: a small SQLite database (better-sqlite3), entirely separate from Parley's.
 *
 * Sessions are stored server-side by the SHA-256 of their id, so a copy of the database does not yield live cookies.
 *
 * @module
 */
import Database from 'better-sqlite3'
import { createHash } from 'node:crypto'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

/** A registered user of the demo. */
export interface DemoUser {
  readonly id: number
  /** The name the user signed up with; it is also their chat identity. */
  readonly username: string
}

/** A live session. */
export interface DemoSession {
  readonly user: DemoUser
  /** Expiry, milliseconds since the epoch. */
  readonly expiresAt: number
}

/** The demo's persistence. */
export interface DemoStore {
  /** Adds a user; returns `undefined` when the name is taken (names are unique case-insensitively). */
  createUser(username: string, passwordHash: string, now: number): DemoUser | undefined
  /** The user and stored hash for a name (case-insensitive), or `undefined`. */
  findUser(username: string): { user: DemoUser; passwordHash: string } | undefined
  /** Stores a session under the hash of `sessionId`. */
  createSession(sessionId: string, userId: number, now: number, expiresAt: number): void
  /** The session for `sessionId` if it exists and has not expired at `now`. */
  findSession(sessionId: string, now: number): DemoSession | undefined
  /** Removes one session (sign-out). */
  deleteSession(sessionId: string): void
  /** Removes expired sessions; returns how many. */
  purgeExpiredSessions(now: number): number
  close(): void
}

const MIGRATIONS: readonly string[] = [
  `CREATE TABLE users (
     id INTEGER PRIMARY KEY,
     username TEXT NOT NULL UNIQUE COLLATE NOCASE,
     password_hash TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE sessions (
     id_hash TEXT PRIMARY KEY,
     user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE INDEX sessions_by_expiry ON sessions(expires_at);`,
]

function hashId(sessionId: string): string {
  return createHash('sha256').update(sessionId).digest('base64url')
}

/**
 * Open (and migrate) the demo database. `':memory:'` gives a throwaway store for tests.
 *
 * @example
 * const store = openDemoStore('.parley/demo/demo.db')
 */
export function openDemoStore(path: string): DemoStore {
  if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  const db = new Database(path)
  db.pragma('journal_mode = WAL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')

  const version = db.pragma('user_version', { simple: true }) as number
  for (let v = version; v < MIGRATIONS.length; v++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[v] ?? '')
      db.pragma(`user_version = ${v + 1}`)
    })()
  }

  const insertUser = db.prepare<[string, string, number], never>(
    'INSERT INTO users (username, password_hash, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING',
  )
  const selectUser = db.prepare<[string], { id: number; username: string; password_hash: string }>(
    'SELECT id, username, password_hash FROM users WHERE username = ?',
  )
  const insertSession = db.prepare<[string, number, number, number], never>(
    'INSERT INTO sessions (id_hash, user_id, created_at, expires_at) VALUES (?, ?, ?, ?)',
  )
  const selectSession = db.prepare<
    [string, number],
    { id: number; username: string; expires_at: number }
  >(
    `SELECT u.id, u.username, s.expires_at FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.id_hash = ? AND s.expires_at > ?`,
  )
  const removeSession = db.prepare<[string], never>('DELETE FROM sessions WHERE id_hash = ?')
  const removeExpired = db.prepare<[number], never>('DELETE FROM sessions WHERE expires_at <= ?')

  return {
    createUser(username, passwordHash, now) {
      const info = insertUser.run(username, passwordHash, now)
      if (info.changes === 0) return undefined
      return { id: Number(info.lastInsertRowid), username }
    },
    findUser(username) {
      const row = selectUser.get(username)
      return (
        row && { user: { id: row.id, username: row.username }, passwordHash: row.password_hash }
      )
    },
    createSession(sessionId, userId, now, expiresAt) {
      insertSession.run(hashId(sessionId), userId, now, expiresAt)
    },
    findSession(sessionId, now) {
      const row = selectSession.get(hashId(sessionId), now)
      return row && { user: { id: row.id, username: row.username }, expiresAt: row.expires_at }
    },
    deleteSession(sessionId) {
      removeSession.run(hashId(sessionId))
    },
    purgeExpiredSessions(now) {
      return removeExpired.run(now).changes
    },
    close() {
      db.close()
    },
  }
}

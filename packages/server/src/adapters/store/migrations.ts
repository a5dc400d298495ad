/**
 * SQLite schema migrations, applied in order by `sqliteStore` (kept in TypeScript so the compiled package carries
 * them without copying `.sql` files). `PRAGMA user_version` records the last applied one.
 *
 * Layout: each resource table keeps its lookup/filter/sort columns as real columns (with the unique constraints of
 * the domain) and the full record as JSON in `data`. The event log is `events`, global `seq` = rowid.
 *
 * @module
 */

/** One migration: `version` is 1, 2, 3, … */
export interface Migration {
  version: number
  name: string
  sql: string
}

/** Every migration, ascending. Never edit a released one; append a new one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE accounts (
  sid TEXT PRIMARY KEY, created_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE TABLE api_keys (
  sid TEXT PRIMARY KEY, account_sid TEXT NOT NULL, created_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX api_keys_list ON api_keys (account_sid, created_at, sid);
CREATE TABLE services (
  sid TEXT PRIMARY KEY, account_sid TEXT NOT NULL, created_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX services_list ON services (account_sid, created_at, sid);
CREATE TABLE roles (
  sid TEXT PRIMARY KEY, service_sid TEXT NOT NULL, created_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX roles_list ON roles (service_sid, created_at, sid);
CREATE TABLE users (
  sid TEXT PRIMARY KEY, service_sid TEXT NOT NULL, identity TEXT NOT NULL, created_at INTEGER NOT NULL,
  data TEXT NOT NULL, UNIQUE (service_sid, identity));
CREATE INDEX users_list ON users (service_sid, created_at, sid);
CREATE TABLE channels (
  sid TEXT PRIMARY KEY, service_sid TEXT NOT NULL, unique_name TEXT, type TEXT NOT NULL,
  created_at INTEGER NOT NULL, data TEXT NOT NULL, UNIQUE (service_sid, unique_name));
CREATE INDEX channels_list ON channels (service_sid, created_at, sid);
CREATE TABLE members (
  sid TEXT PRIMARY KEY, channel_sid TEXT NOT NULL, identity TEXT NOT NULL, created_at INTEGER NOT NULL,
  data TEXT NOT NULL, UNIQUE (channel_sid, identity));
CREATE INDEX members_list ON members (channel_sid, created_at, sid);
CREATE TABLE messages (
  sid TEXT PRIMARY KEY, channel_sid TEXT NOT NULL, idx INTEGER NOT NULL, from_identity TEXT NOT NULL,
  client_id TEXT, data TEXT NOT NULL,
  UNIQUE (channel_sid, idx), UNIQUE (channel_sid, from_identity, client_id));
CREATE TABLE invites (
  sid TEXT PRIMARY KEY, channel_sid TEXT NOT NULL, identity TEXT NOT NULL, created_at INTEGER NOT NULL,
  data TEXT NOT NULL, UNIQUE (channel_sid, identity));
CREATE INDEX invites_list ON invites (channel_sid, created_at, sid);
CREATE TABLE user_channels (
  user_sid TEXT NOT NULL, channel_sid TEXT NOT NULL, created_at INTEGER NOT NULL, data TEXT NOT NULL,
  PRIMARY KEY (user_sid, channel_sid));
CREATE INDEX user_channels_list ON user_channels (user_sid, created_at, channel_sid);
CREATE INDEX user_channels_channel ON user_channels (channel_sid);
CREATE TABLE credentials (
  sid TEXT PRIMARY KEY, account_sid TEXT NOT NULL, created_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX credentials_list ON credentials (account_sid, created_at, sid);
CREATE TABLE bindings (
  sid TEXT PRIMARY KEY, service_sid TEXT NOT NULL, binding_type TEXT NOT NULL, identity TEXT NOT NULL,
  created_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX bindings_list ON bindings (service_sid, created_at, sid);
CREATE TABLE webhooks (
  sid TEXT PRIMARY KEY, channel_sid TEXT NOT NULL, created_at INTEGER NOT NULL, data TEXT NOT NULL);
CREATE INDEX webhooks_list ON webhooks (channel_sid, created_at, sid);
CREATE TABLE events (
  seq INTEGER PRIMARY KEY, stream TEXT NOT NULL, stream_seq INTEGER NOT NULL, type TEXT NOT NULL, key TEXT,
  account_sid TEXT NOT NULL, service_sid TEXT, created_at INTEGER NOT NULL, data TEXT NOT NULL,
  UNIQUE (stream, stream_seq));
`,
  },
]

// Types of the rumprops npm package: the config format of DESIGN.md §2 and the JS API of §7.
// Hand-written; keep in step with src/config.rs and src/runtime.rs.

/** A property's type on the beacon. */
export type PropertyType = 'string' | 'long' | 'double' | 'date';

type SourceKind = 'css' | 'meta' | 'cookie' | 'query' | 'js' | 'api';
/** One source, the others absent: `{css: '#cart .total'}` but not `{css: '…', meta: '…'}`. */
type Only<T> = T & { [K in Exclude<SourceKind, keyof T>]?: never };

/** The first element matching the selector: its `attribute`, or its value or collapsed text. */
export type CssSource = Only<{ css: string; attribute?: string }>;
/** The `content` of the first `<meta>` whose `name` or `property` is this (ASCII case-insensitive). */
export type MetaSource = Only<{ meta: string }>;
/** The first cookie of this name, percent-decoded. */
export type CookieSource = Only<{ cookie: string }>;
/** The first query parameter of this name in the page URL. */
export type QuerySource = Only<{ query: string }>;
/** A dotted path from `window` (`dataLayer.0.user.tier`; a `$` segment parses JSON). */
export type JsSource = Only<{ js: string }>;
/** Set only by `addActionProperties` / `sendSessionProperties`. */
export type ApiSource = Only<{ api: true }>;
/** Exactly one source per property. */
export type PropertySource = CssSource | MetaSource | CookieSource | QuerySource | JsSource | ApiSource;

/** One property rule (`properties[i]` of the config). */
export interface PropertyRule {
  /** `^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$`, at most 100 characters, unique. */
  key: string;
  type: PropertyType;
  source: PropertySource;
  /** A regex: capture group 1 if it has one, else the whole match; no match means no value. */
  cleanup?: string;
  /** Lower-case the string value after cleanup. */
  ignoreCase?: boolean;
  /** Strings only, 1 to 1000 Unicode scalar values; default 200. */
  maxLength?: number;
  /** Default `action`. */
  storage?: 'action' | 'session' | 'both';
  /** For session storage; default `last`. min/max: long, double, date; sum/avg: long, double. */
  aggregation?: 'last' | 'first' | 'min' | 'max' | 'sum' | 'avg';
  /** Sent even under Do Not Track (default false). */
  public?: boolean;
  /**
   * Strings only: send the lowercase hex SHA-256 of the config's `hashSalt` followed by the value
   * (after cleanup and ignoreCase, before `maxLength`), never the value itself.
   */
  hash?: 'sha256';
}

/** The agent's config, format version 1. The agent refuses an invalid config as a whole. */
export interface RumpropsConfig {
  version: 1;
  /** Application id sent on every beacon. */
  app: string;
  /** The collector's beacon URL (absolute, or relative to the page). */
  collector: string;
  /** At most 200. */
  properties?: PropertyRule[];
  session?: {
    /** 1 to 86400000; default 1800000 (30 min). */
    idleTimeoutMs?: number;
    /** 1 to 604800000; default 21600000 (6 h). */
    maxDurationMs?: number;
    /** 1 to 100000; default 200. */
    maxActions?: number;
  };
  batch?: {
    /** 1 to 1000; default 20. */
    maxActions?: number;
    /** 1024 to 65536; default 16384. */
    maxBytes?: number;
    /** 100 to 3600000; default 10000. */
    flushIntervalMs?: number;
  };
  privacy?: {
    /** Store and send nothing before `enable()`. */
    optIn?: boolean;
    /** Under DNT or GPC: leave out ids and non-public properties, send nothing, or ignore it. */
    doNotTrack?: 'anonymous' | 'disable' | 'ignore';
  };
  /** Percent of sessions captured (0 to 100), decided once per session. */
  sampleRate?: number;
  /** An action's apdex category from its duration: satisfied up to `toleratedMs`, tolerating up to `frustratedMs`, else (or with a JS error) frustrated. */
  apdex?: {
    /** 1 to 3600000; default 3000. */
    toleratedMs?: number;
    /** toleratedMs to 3600000; default 4 × toleratedMs (12000), at most 3600000. */
    frustratedMs?: number;
  };
  errors?: {
    /** JS errors sent with each action (deduplicated), 0 to 100; default 10. */
    maxPerAction?: number;
  };
  /** Put before every value of a rule with `hash` (default empty). */
  hashSalt?: string;
}

/**
 * API values by type, each keyed by a property defined in the config. Strings are typed as the
 * page's text would be; a long must be integral (a bigint or a decimal string keeps all 64 bits);
 * a date is a Date, epoch milliseconds, or RFC 3339 / `YYYY-MM-DD` text.
 */
export interface ApiProperties {
  string?: Record<string, string>;
  long?: Record<string, number | bigint | string>;
  double?: Record<string, number | string>;
  date?: Record<string, Date | number | string>;
}

/** Why a property has no value. */
export type ReasonCode =
  | 'not_found' | 'empty' | 'no_match' | 'not_a_long' | 'not_a_double' | 'not_a_date' | 'out_of_range'
  | 'unsupported_value' | 'sensitive_field' | 'invalid_key' | 'wrong_type' | 'limit_exceeded' | 'dnt_masked';

/**
 * What an API call kept and refused. A value is the typed one: a string, or a number (longs
 * and dates as numbers: epoch milliseconds for dates; beyond 2^53 a long is rounded here, never
 * on the beacon).
 */
export interface ApiReport {
  sent: { key: string; value: string | number }[];
  failed: { key: string; reason: ReasonCode }[];
}

/** One row of `evaluateRules()`: the rule's value now, or why there is none. */
export interface EvaluatedRule {
  key: string;
  source: SourceKind;
  /** `null` with a reason, or with neither for an `api` rule. */
  value: string | number | null;
  reason: ReasonCode | null;
}

/** An action id from `enterAction` (before the module is ready: a token the later calls map). */
export type ActionId = string;

/**
 * Starts the agent with a config (the object, or its JSON text). Calls made before the
 * WebAssembly module is ready are queued and replayed in order, so this returns `undefined`
 * then (a refused config is reported with `console.warn`). Once ready: `true` when running,
 * `false` when the config is refused or there is no window (server-side rendering).
 */
export function init(config: RumpropsConfig | string): boolean | undefined;

/** Adds API values to an open action (`null`: the newest open one). `undefined` while queued. */
export function addActionProperties(actionId: ActionId | null, properties: ApiProperties): ApiReport | undefined;

/** Sets session-stored API values. `undefined` while queued. */
export function sendSessionProperties(properties: ApiProperties): ApiReport | undefined;

/** Names the session's user. */
export function identifyUser(id: string): void;

/** Opens a custom action; its id (`""` when the agent is off, `undefined` without a window). */
export function enterAction(name: string): ActionId | undefined;

/** Ends an action, capturing its rules' values (API values win). */
export function leaveAction(id: ActionId): void;

/** Consent under `privacy.optIn`: start storing and sending. */
export function enable(): void;

/** Stop, and delete what was stored. */
export function disable(): void;

/** Ends the session; the next action starts a new one. */
export function endSession(): void;

/** Sends what waits now. */
export function flush(): void;

/** A live dry run of every rule on the current page. `undefined` while the module loads. */
export function evaluateRules(): EvaluatedRule[] | undefined;

/**
 * Reports a JS error (its message) of an open action (`null` or omitted: the newest open one),
 * as the page's own errors are: counted in its `jsErrors`, sent in its `errors`. Without such
 * an action it is dropped.
 */
export function reportError(message: string, actionId?: ActionId | null): void;

/**
 * Renames an open action (`null` or omitted: the newest open one) before it is sent. `true` when
 * renamed, `false` when no such action is open or the name is blank, `undefined` while queued.
 */
export function nameAction(name: string, actionId?: ActionId | null): boolean | undefined;

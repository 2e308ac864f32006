// The one Kafka client factory (DESIGN.md §2, STYLE §10). KIDP's Kafka speaks only TLS
// with client certificates (issue 10): every client presents the certificate of its own
// principal, read from a directory in a TLS Secret's layout (ca.crt, tls.crt, tls.key) —
// what `kubectl create secret tls` mounts, and what test/env/kafka/kafka.sh writes.
//
// The files are read again for every new connection (kafkajs' socketFactory), so a
// rotated certificate is used from the next connection on; KafkaTls.watch tells long-lived
// producers to reconnect once the files change. Kafka authenticates a TLS client at the
// handshake only, so connections opened before a rotation stay valid until they close.
import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import kafkajs from 'kafkajs';
import type { ISocketFactory, Kafka, LogEntry, RetryOptions } from 'kafkajs';
import type { Logger } from 'pino';

const { Kafka: KafkaClient, logLevel } = kafkajs;

/** File names inside a Kafka TLS directory: the keys of a kubernetes.io/tls Secret plus its CA. */
/**
 * The topic the webhook's decision stream writes (DESIGN §6): named here, beside the client
 * factory both sides use, because admission/ produces it and brokers/ grants its ACLs.
 */
export const DECISIONS_TOPIC = 'kidp.admission-decisions';

export const KAFKA_TLS_FILES = { ca: 'ca.crt', cert: 'tls.crt', key: 'tls.key' } as const;
/** How often watch() looks at the files: a rotation is picked up within this, and a stat + hash of three small files costs nothing. */
export const KAFKA_TLS_WATCH_INTERVAL_MS = 10_000;
/** Kept as in kafkajs' own socket factory: dead peers are noticed without traffic. */
const KEEP_ALIVE_DELAY_MS = 60_000;

export interface KafkaTlsMaterial {
  ca: string;
  cert: string;
  key: string;
}

/** A timer source (STYLE §4): tests drive watch() without waiting. */
export interface KafkaTlsTimer {
  setTimer(fn: () => void, ms: number): { cancel(): void };
}

const realTimer: KafkaTlsTimer = {
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/** A client's TLS identity on disk. read() is always the current files. */
export class KafkaTls {
  constructor(
    readonly dir: string,
    /** How often watch() polls by default (KAFKA_TLS_WATCH_INTERVAL_MS; tests shorten it). */
    readonly watchIntervalMs = KAFKA_TLS_WATCH_INTERVAL_MS,
  ) {}

  /** The serial of the certificate each open connection presented (socketFactory records them). */
  private readonly open = new Map<object, string>();

  /**
   * Serial numbers of the client certificates the open connections made with this identity
   * presented: after a rotation, only the new one's once every client has reconnected —
   * what an operator (and the rotation test) checks to know the old certificate is unused.
   */
  openConnectionSerials(): string[] {
    return [...this.open.values()];
  }

  /** Remembers `socket`'s certificate until it closes. */
  track(socket: { once(event: 'close', fn: () => void): unknown }, certPem: string): void {
    this.open.set(socket, new X509Certificate(certPem).serialNumber);
    socket.once('close', () => this.open.delete(socket));
  }

  read(): KafkaTlsMaterial {
    const file = (name: string) => {
      try {
        return readFileSync(join(this.dir, name), 'utf8');
      } catch (cause) {
        throw new Error(`Kafka TLS: cannot read ${join(this.dir, name)} (the directory needs ${Object.values(KAFKA_TLS_FILES).join(', ')})`, { cause });
      }
    };
    return { ca: file(KAFKA_TLS_FILES.ca), cert: file(KAFKA_TLS_FILES.cert), key: file(KAFKA_TLS_FILES.key) };
  }

  /** Changes whenever any of the three files does. */
  fingerprint(): string {
    const m = this.read();
    return createHash('sha256').update(m.ca).update('\0').update(m.cert).update('\0').update(m.key).digest('hex');
  }

  /** The Kafka principal this identity authenticates as: User:<CN> (kafka.sh's ssl.principal.mapping.rules). */
  principal(): string {
    const subject = new X509Certificate(this.read().cert).subject;
    const cn = /^CN=(.+)$/m.exec(subject)?.[1];
    return cn ? `User:${cn}` : `User:${subject.replace(/\n/g, ',')}`;
  }

  /**
   * Calls `onChange` (once per change) when the files change, polling every `intervalMs`.
   * A read that fails (a file being replaced) is skipped and tried on the next tick.
   */
  watch(onChange: () => void, options: { intervalMs?: number; timer?: KafkaTlsTimer } = {}): { stop(): void } {
    const timer = options.timer ?? realTimer;
    const interval = options.intervalMs ?? this.watchIntervalMs;
    let last = this.fingerprint();
    let pending: { cancel(): void } | undefined;
    let stopped = false;
    const tick = () => {
      if (stopped) return;
      try {
        const now = this.fingerprint();
        if (now !== last) {
          last = now;
          onChange();
        }
      } catch {
        // Half-replaced files: the next tick sees the finished rotation.
      }
      pending = timer.setTimer(tick, interval);
    };
    pending = timer.setTimer(tick, interval);
    return {
      stop: () => {
        stopped = true;
        pending?.cancel();
      },
    };
  }
}

/** The socket factory: TLS with the files as they are at this connection's start. */
export function tlsSocketFactory(tls: KafkaTls): ISocketFactory {
  return ({ host, port, onConnect }) => {
    const material = tls.read();
    const socket = tlsConnect({ host, port, ...(isIP(host) ? {} : { servername: host }), ca: [material.ca], cert: material.cert, key: material.key, minVersion: 'TLSv1.2' }, onConnect);
    socket.setKeepAlive(true, KEEP_ALIVE_DELAY_MS);
    tls.track(socket, material.cert);
    return socket;
  };
}

export interface KafkaClientOptions {
  brokers: string[];
  clientId: string;
  logger: Logger;
  /**
   * The client's certificate directory (or a KafkaTls). Omitted only where no Kafka runs
   * (unit tests against a closed port): KIDP's Kafka refuses clients without one.
   */
  tls?: KafkaTls | string;
  connectionTimeoutMs: number;
  requestTimeoutMs: number;
  retry: RetryOptions;
  /** kafkajs messages at or above this go to the logger as warnings, the rest as debug; 'never': all debug (a client whose caller rate-limits its own warnings). */
  warnAt?: 'warn' | 'error' | 'never';
}

export function kafkaTls(tls: KafkaTls | string | undefined): KafkaTls | undefined {
  if (tls === undefined) return undefined;
  return typeof tls === 'string' ? new KafkaTls(tls) : tls;
}

/** A kafkajs client logging through pino, over mTLS when given a certificate directory. */
export function createKafkaClient(options: KafkaClientOptions): Kafka {
  const log = options.logger.child({ component: 'kafkajs' });
  const tls = kafkaTls(options.tls);
  // Read once now, so missing or unreadable files fail at start, not at the first send.
  tls?.read();
  const warnLevel = options.warnAt === 'never' ? logLevel.NOTHING : options.warnAt === 'error' ? logLevel.ERROR : logLevel.WARN;
  return new KafkaClient({
    clientId: options.clientId,
    brokers: options.brokers,
    connectionTimeout: options.connectionTimeoutMs,
    requestTimeout: options.requestTimeoutMs,
    retry: options.retry,
    ...(tls ? { ssl: true, socketFactory: tlsSocketFactory(tls) } : {}),
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        const fields = { namespace: rest.logger, error: rest['error'], broker: rest['broker'] };
        if (level <= warnLevel) log.warn(fields, message);
        else log.debug(fields, message);
      },
  });
}

/**
 * The logging the monitor needs: a structured object and a message. A pino logger fits as is.
 */
export interface MonitorLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** A logger that drops everything (tests, or a caller that does not want monitor logs). */
export const silentLogger: MonitorLogger = Object.freeze({
  debug(): void {},
  info(): void {},
  warn(): void {},
});

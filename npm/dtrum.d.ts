// Types of `rumprops/dtrum`, the dtrum compatibility shim: the DtrumApi of the npm package
// @dynatrace/dtrum-api-types (1.337), method for method, so that code written for dtrum
// type-checks against it (tests/npm-app/dtrum-usage.ts). Hand-written; keep in step with
// www/dtrum.js. No dependency on that package: the types are restated here.

export type AllowedMapTypes = Date | string | number;
export interface Property<S> {
  value: S;
  /** Accepted; in rumprops a property is public by its rule (`public` in the config). */
  public?: boolean;
}
export interface PropertyMap<S extends AllowedMapTypes> {
  [key: string]: Property<S> | S;
}
export interface FailedProperty { key: string; reason: string; }
export interface SuccessfulProperty { key: string; value: AllowedMapTypes; }
export interface PropertiesSendingReport {
  failedProperties: FailedProperty[];
  sentProperties: SuccessfulProperty[];
  info: string;
}
export interface PropertyObject {
  javaLong?: PropertyMap<number>;
  date?: PropertyMap<Date>;
  shortString?: PropertyMap<string>;
  javaDouble?: PropertyMap<number>;
}
export interface DtRumUserInput { target: EventTarget | string | undefined; name: string; info: string; title: string; }
/**
 * dtrum's ActionNameResult (SUCCESS 0, ACTION_NOT_FOUND 1, INVALID_ACTION_NAME 2,
 * INVALID_ACTION_ID 3) as its values: an enum of this package would not be dtrum's enum.
 */
export type ActionNameResult = 0 | 1 | 2 | 3;
/** One rule of the config: `id` its key, `type` its source kind, `value` as text, `info` the reason it has none. */
export interface MetaData { id: string; type: string; expression: string; value: string | null; info?: string; }
export type ActionEnterListener = (actionId: number, starttime: number, isRootAction: boolean, element?: EventTarget | string) => void;
export interface ActionLeaveListener { (actionId: number, stoptime: number, isRootAction: boolean): void; }
export type PageLeaveListener = (unloadRunning: boolean) => void;
export interface APIPage { name: string; group?: string; }

/**
 * The shim. Mapped to rumprops: addActionProperties, sendSessionProperties (answer undefined
 * while the agent is not ready yet, as dtrum may), identifyUser, enterAction, leaveAction,
 * actionName (nameAction), reportCustomError and reportError (reportError: JS errors of the
 * action), enable, disable, endSession, sendBeacon (flush), now, getAndEvaluateMetaData. The
 * other methods are accepted and do nothing (one console.debug line per method).
 */
export interface RumpropsDtrum {
  setAutomaticActionDetection(enabled: boolean): void;
  setLoadEndManually(): void;
  signalLoadEnd(): void;
  markAsErrorPage(responseCode: number, message: string): boolean;
  markXHRFailed(responseCode: number, message: string, parentActionId?: number): boolean;
  sendBeacon(forceSync: boolean, sendPreview: boolean, killUnfinished: boolean): void;
  enterAction(actionName: string, actionType?: string, startTime?: number, sourceUrl?: string): number;
  addEnterActionListener(listener: ActionEnterListener): void;
  removeEnterActionListener(listener: ActionEnterListener): void;
  leaveAction(actionId: number, stopTime?: number, startTime?: number): void;
  addLeaveActionListener(listener: ActionLeaveListener): void;
  removeLeaveActionListener(listener: ActionLeaveListener): void;
  addActionProperties(
    parentActionId: number,
    javaLong?: PropertyMap<number>,
    date?: PropertyMap<Date>,
    shortString?: PropertyMap<string>,
    javaDouble?: PropertyMap<number>
  ): PropertiesSendingReport | undefined;
  reportError(error: Error | string, parentActionId?: number): void;
  identifyUser(value: string): void;
  addPageLeavingListener(listener: PageLeaveListener): void;
  beginUserInput(domNode: HTMLElement | string, type: string, addInfo?: string, validTime?: number): DtRumUserInput;
  endUserInput(userInputObject: DtRumUserInput): void;
  enterXhrAction(type: string, xmode?: 0 | 1 | 3, xhrUrl?: string): number;
  leaveXhrAction(actionId: number, stopTime?: number): void;
  enterXhrCallback(actionId: number): void;
  leaveXhrCallback(actionId: number): void;
  signalOnLoadStart(): void;
  incrementOnLoadEndMarkers(): void;
  signalOnLoadEnd(): void;
  actionName(actionName: string, actionId?: number): ActionNameResult;
  endSession(): void;
  now(): number;
  enable(): void;
  disable(): void;
  addVisitTimeoutListener(listener: (visitId: string, newVisitAfterTimeout: boolean) => void): void;
  enableSessionReplay(ignoreCostControl: boolean): void;
  disableSessionReplay(): void;
  getAndEvaluateMetaData(): MetaData[];
  enablePersistentValues(): void;
  disablePersistentValues(remember: boolean): void;
  registerPreDiffMethod(method: (diff: string) => string): void;
  sendSessionProperties(
    javaLongOrObject?: PropertyMap<number> | PropertyObject,
    date?: PropertyMap<Date>,
    shortString?: PropertyMap<string>,
    javaDouble?: PropertyMap<number>
  ): PropertiesSendingReport | undefined;
  reportCustomError(key: string, value: string, hint?: string, parentingInfo?: number | boolean): void;
  enableManualPageDetection(): void;
  enableAutomaticPageDetection(): void;
  setPage(newPage: APIPage): number;
}

/** The shim over this package's API (the module is loaded on the first call, as for the API). */
export declare const dtrum: RumpropsDtrum;
export default dtrum;

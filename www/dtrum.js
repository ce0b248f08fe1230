// The dtrum compatibility shim: Dynatrace's `dtrum.*` JS API (as typed by the npm package
// @dynatrace/dtrum-api-types) on top of the rumprops API, so that a page written for dtrum runs
// unchanged. Shared by the script tag (scripts/build-agent.sh makes www/dist/dtrum.js, which the
// loader inserts for `data-dtrum="true"`) and the npm package (`rumprops/dtrum`).
//
// Mapped: addActionProperties and sendSessionProperties (javaLong, date, shortString and
// javaDouble become long, date, string and double; `{value, public}` items give their value),
// with a PropertiesSendingReport built from rumprops's {sent, failed}; identifyUser;
// enterAction / leaveAction (dtrum's numeric ids stand for rumprops's); actionName (nameAction);
// reportCustomError and reportError (reportError: a JS error of the action); enable, disable,
// endSession; sendBeacon (flush); now; getAndEvaluateMetaData (from evaluateRules()). Every
// other method is accepted, does nothing and answers a value of its declared type, with one
// console.debug line per method; nothing here throws into the page.

const DEBUG = 'rumprops dtrum: ';

/**
 * The dtrum object over the rumprops API object `api()` returns (looked up at each call: the
 * script tag's `window.rumprops`, or the npm package's functions), logging to `con`.
 */
export function createDtrum(api, con) {
  const told = {};
  const ignored = (name, answer) => function () {
    if (!told[name]) {
      told[name] = true;
      try { con.debug(DEBUG + name + '() has no rumprops meaning: ignored'); } catch (e) { /* no console */ }
    }
    return answer;
  };
  // Calls the rumprops API; undefined when it is missing or throws (it never should).
  const call = (name, a, b) => {
    try {
      const rp = api();
      return rp && typeof rp[name] === 'function' ? rp[name](a, b) : undefined;
    } catch (e) {
      return undefined;
    }
  };

  // dtrum's action ids are numbers: each one handed out stands for a rumprops id (or the
  // `pending-N` token of an action entered before the module was ready), and for '' once left,
  // which no open action has: a later call with it finds no action instead of the newest.
  const ids = {};
  let nextId = 0;
  const actionId = (n) => (typeof n === 'number' && ids[n] !== undefined ? ids[n] : null);

  // A dtrum PropertyMap ({key: value} or {key: {value, public}}) as a rumprops value group.
  // `public` is the rule's in rumprops (its config), so an item's own flag is not used.
  function group(map) {
    if (typeof map !== 'object' || map === null) return undefined;
    const out = {};
    let keys = [];
    try { keys = Reflect.ownKeys(map); } catch (e) { /* a proxy trap */ }
    for (let i = 0; i < keys.length; i++) {
      const k = keys[i];
      if (typeof k !== 'string') continue;
      let v;
      try {
        v = map[k];
        if (typeof v === 'object' && v !== null && !(v instanceof Date) && 'value' in v) v = v.value;
      } catch (e) { v = undefined; }
      out[k] = v;
    }
    return out;
  }
  const props = (javaLong, date, shortString, javaDouble) =>
    ({ long: group(javaLong), date: group(date), string: group(shortString), double: group(javaDouble) });
  // rumprops's {sent: [{key, value}], failed: [{key, reason}]} as dtrum's sending report.
  function report(r) {
    if (!r) return undefined;
    const sentProperties = [], failedProperties = [];
    for (let i = 0; i < r.sent.length; i++) sentProperties[i] = { key: r.sent[i].key, value: r.sent[i].value };
    for (let i = 0; i < r.failed.length; i++) failedProperties[i] = { key: r.failed[i].key, reason: r.failed[i].reason };
    return { sentProperties, failedProperties, info: 'rumprops: ' + sentProperties.length + ' sent, ' + failedProperties.length + ' failed' };
  }
  const isObjectForm = (o) => typeof o === 'object' && o !== null &&
    ('javaLong' in o || 'date' in o || 'shortString' in o || 'javaDouble' in o);

  const dtrum = {
    addActionProperties(parentActionId, javaLong, date, shortString, javaDouble) {
      return report(call('addActionProperties', actionId(parentActionId), props(javaLong, date, shortString, javaDouble)));
    },
    sendSessionProperties(javaLongOrObject, date, shortString, javaDouble) {
      let p;
      try {
        p = isObjectForm(javaLongOrObject)
          ? props(javaLongOrObject.javaLong, javaLongOrObject.date, javaLongOrObject.shortString, javaLongOrObject.javaDouble)
          : props(javaLongOrObject, date, shortString, javaDouble);
      } catch (e) { p = {}; }
      return report(call('sendSessionProperties', p));
    },
    identifyUser(value) { call('identifyUser', value); },
    enterAction(actionName) {
      const id = call('enterAction', actionName);
      if (typeof id !== 'string' || id === '') return 0;
      ids[++nextId] = id;
      return nextId;
    },
    leaveAction(actionId_) {
      const id = actionId(actionId_);
      if (id) { call('leaveAction', id); ids[actionId_] = ''; }
    },
    // ActionNameResult: 0 SUCCESS (also while the agent is not ready: the call waits for it),
    // 1 ACTION_NOT_FOUND (or a blank name), 2 INVALID_ACTION_NAME, 3 INVALID_ACTION_ID.
    actionName(name, actionId_) {
      if (typeof name !== 'string') return 2;
      if (actionId_ !== undefined && typeof actionId_ !== 'number') return 3;
      return call('nameAction', name, actionId(actionId_)) === false ? 1 : 0;
    },
    // A custom error as a JS error `key: value (hint)` of the action parentingInfo names, else
    // of the newest open action (rumprops has no errors outside actions).
    reportCustomError(key, value, hint, parentingInfo) {
      call('reportError', key + ': ' + value + (hint == null || hint === '' ? '' : ' (' + hint + ')'), actionId(parentingInfo));
    },
    // An Error as its text (`TypeError: …`), an object of dtrum's {message, file, line, column,
    // stack} as its message (rumprops sends a reported error's message only).
    reportError(error, parentActionId) {
      const plain = typeof error === 'object' && error !== null && !(error instanceof Error) && typeof error.message === 'string';
      call('reportError', typeof error === 'string' ? error : plain ? error.message : String(error), actionId(parentActionId));
    },
    enable() { call('enable'); },
    disable() { call('disable'); },
    endSession() { call('endSession'); },
    sendBeacon() { call('flush'); },
    now() { return Date.now(); },
    // The rules as dtrum's metadata: id the key, type the source kind, the value as text.
    getAndEvaluateMetaData() {
      const rows = call('evaluateRules');
      const out = [];
      if (!rows) return out;
      for (let i = 0; i < rows.length; i++) {
        const r = rows[i];
        const m = { id: r.key, type: r.source, expression: r.key, value: r.value === null ? null : String(r.value) };
        if (r.reason !== null) m.info = r.reason;
        out[i] = m;
      }
      return out;
    },
  };
  // The rest of DtrumApi, with the answers its types declare.
  const rest = {
    setAutomaticActionDetection: undefined, setLoadEndManually: undefined, signalLoadEnd: undefined,
    markAsErrorPage: false, markXHRFailed: false, addEnterActionListener: undefined,
    removeEnterActionListener: undefined, addLeaveActionListener: undefined,
    removeLeaveActionListener: undefined, addPageLeavingListener: undefined,
    endUserInput: undefined, enterXhrAction: 0, leaveXhrAction: undefined, enterXhrCallback: undefined,
    leaveXhrCallback: undefined, signalOnLoadStart: undefined, incrementOnLoadEndMarkers: undefined,
    signalOnLoadEnd: undefined,
    addVisitTimeoutListener: undefined, enableSessionReplay: undefined, disableSessionReplay: undefined,
    enablePersistentValues: undefined, disablePersistentValues: undefined, registerPreDiffMethod: undefined,
    enableManualPageDetection: undefined,
    enableAutomaticPageDetection: undefined, setPage: 0,
  };
  for (const name in rest) dtrum[name] = ignored(name, rest[name]);
  dtrum.beginUserInput = function (domNode, type, addInfo) {
    ignored('beginUserInput')();
    return { target: domNode, name: type, info: addInfo || '', title: '' };
  };
  // Every method guarded: a throw inside would otherwise reach the page.
  for (const name in dtrum) {
    const f = dtrum[name];
    dtrum[name] = function () { try { return Reflect.apply(f, this, arguments); } catch (e) { return undefined; } };
  }
  return dtrum;
}

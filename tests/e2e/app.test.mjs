// The analysis app over the SQLite store (the default): every page, see app-flow.mjs.
import { appSuite } from './app-flow.mjs';

appSuite({ name: 'SQLite', shotPrefix: '', args: async () => [] });

// The analysis app over the ClickHouse store: the collector runs `serve --store clickhouse://…`
// against a real clickhouse-server started here, and every page of app-flow.mjs (sessions,
// session detail, analysis chart, metric, alert, dashboards, the Web property pack) must show
// the same data as over SQLite. Screenshots: docs/app/clickhouse-*.png with RUMPROPS_SCREENSHOTS=1.
import { appSuite } from './app-flow.mjs';
import { startClickHouse } from './clickhouse.mjs';

let ch;
appSuite({
  name: 'ClickHouse',
  shotPrefix: 'clickhouse-',
  args: async () => {
    ch = await startClickHouse();
    return ['--store', ch.url('rum')];
  },
  stop: () => ch?.stop(),
});

// rumprops/dtrum: the dtrum compatibility shim over this package's API (www/dtrum.js, shipped as
// dtrum-core.js). Code written for Dynatrace's global `dtrum` can take it as is:
//   import { dtrum } from 'rumprops/dtrum';
import * as rumprops from './index.js';
import { createDtrum } from './dtrum-core.js';

export const dtrum = createDtrum(() => rumprops, typeof console === 'undefined' ? undefined : console);
export default dtrum;

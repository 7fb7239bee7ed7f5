/// <reference path="./interfaces/wharf-plugin-clock.d.ts" />
/// <reference path="./interfaces/wharf-plugin-cluster.d.ts" />
/// <reference path="./interfaces/wharf-plugin-log.d.ts" />
/// <reference path="./interfaces/wharf-plugin-review.d.ts" />
/// <reference path="./interfaces/wharf-plugin-types.d.ts" />
declare module 'wharf:plugin/admission@0.1.0' {
  export type * as WharfPluginClock010 from 'wharf:plugin/clock@0.1.0'; // import wharf:plugin/clock@0.1.0
  export type * as WharfPluginCluster010 from 'wharf:plugin/cluster@0.1.0'; // import wharf:plugin/cluster@0.1.0
  export type * as WharfPluginLog010 from 'wharf:plugin/log@0.1.0'; // import wharf:plugin/log@0.1.0
  export type * as WharfPluginTypes010 from 'wharf:plugin/types@0.1.0'; // import wharf:plugin/types@0.1.0
  export * as review from 'wharf:plugin/review@0.1.0'; // export wharf:plugin/review@0.1.0
}

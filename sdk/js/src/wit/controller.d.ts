/// <reference path="./interfaces/wharf-plugin-clock.d.ts" />
/// <reference path="./interfaces/wharf-plugin-cluster.d.ts" />
/// <reference path="./interfaces/wharf-plugin-events.d.ts" />
/// <reference path="./interfaces/wharf-plugin-log.d.ts" />
/// <reference path="./interfaces/wharf-plugin-reconciler.d.ts" />
/// <reference path="./interfaces/wharf-plugin-state.d.ts" />
/// <reference path="./interfaces/wharf-plugin-types.d.ts" />
declare module 'wharf:plugin/controller@0.1.0' {
  export type * as WharfPluginClock010 from 'wharf:plugin/clock@0.1.0'; // import wharf:plugin/clock@0.1.0
  export type * as WharfPluginCluster010 from 'wharf:plugin/cluster@0.1.0'; // import wharf:plugin/cluster@0.1.0
  export type * as WharfPluginEvents010 from 'wharf:plugin/events@0.1.0'; // import wharf:plugin/events@0.1.0
  export type * as WharfPluginLog010 from 'wharf:plugin/log@0.1.0'; // import wharf:plugin/log@0.1.0
  export type * as WharfPluginState010 from 'wharf:plugin/state@0.1.0'; // import wharf:plugin/state@0.1.0
  export type * as WharfPluginTypes010 from 'wharf:plugin/types@0.1.0'; // import wharf:plugin/types@0.1.0
  export * as reconciler from 'wharf:plugin/reconciler@0.1.0'; // export wharf:plugin/reconciler@0.1.0
}

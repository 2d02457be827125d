//! keyhelm-core: the plugin ABI and the provider SDK.

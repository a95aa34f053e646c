"""moekit's bundled data (presets, scenarios, measurements), installed as the package `moekit.data`."""

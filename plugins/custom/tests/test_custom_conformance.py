"""stackio-custom through the conformance suite (numpy files and a read-function folder)."""

from stackio.testing.conformance import PluginConformance


class TestCustomConformance(PluginConformance):
    plugin = "stackio_custom"

"""stackio-czi through the core's plugin conformance suite (on the samples it writes)."""

from stackio.testing.conformance import PluginConformance


class TestCziConformance(PluginConformance):
    plugin = "stackio_czi"
    heavy_modules = ("pylibCZIrw", "_pylibCZIrw", "xmltodict")

"""stackio-png, installed through its entry point, passes the plugin conformance suite."""

from stackio.testing.conformance import PluginConformance


class TestPngConformance(PluginConformance):
    plugin = "stackio_png"
    heavy_modules = ("PIL",)

"""stackio-myformat, installed through its entry point, passes the plugin conformance suite on its samples."""

from stackio.testing.conformance import PluginConformance


class TestMyFormatConformance(PluginConformance):
    plugin = "stackio_myformat"
    #: The format libraries that discovery and detection must not import (common ones are always checked).
    heavy_modules = ()

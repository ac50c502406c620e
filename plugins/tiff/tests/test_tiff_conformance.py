"""stackio-tiff through the core's plugin conformance suite (on the samples it writes)."""

from stackio.testing.conformance import PluginConformance


class TestTiffConformance(PluginConformance):
    plugin = "stackio_tiff"
    heavy_modules = ("tifffile", "imagecodecs", "stackio_tiff.reader", "stackio_tiff.images")

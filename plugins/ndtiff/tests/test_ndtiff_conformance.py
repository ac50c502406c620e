"""stackio-ndtiff through stackio's plugin conformance suite (on its own demo samples)."""

from stackio.testing.conformance import PluginConformance


class TestNDTiffConformance(PluginConformance):
    plugin = "stackio_ndtiff"
    heavy_modules = ("ndstorage", "dask")

"""stackio-zarr through the core's plugin conformance suite (on the samples it writes)."""

from stackio.testing.conformance import PluginConformance


class TestZarrConformance(PluginConformance):
    plugin = "stackio_zarr"
    heavy_modules = ("zarr", "numcodecs")

"""Sources: magnetogram files (JP2/FITS), GOES classes, flare catalogs, disk geometry and downloads."""
from .catalog import FlareCatalog, read_catalog
from .goes import format_goes_class, parse_goes_class
from .magnetogram import Magnetogram, MagnetogramMeta, read_magnetogram

__all__ = ["read_magnetogram", "Magnetogram", "MagnetogramMeta", "parse_goes_class", "format_goes_class", "read_catalog", "FlareCatalog"]

"""From labels to training batches: the label index, the memory-mapped image store and the batched loader."""
from .labels import FOLDS, LabelConfig, make_index, read_index, write_index
from .store import Store, open_store, prepare_store

__all__ = ["FOLDS", "LabelConfig", "make_index", "read_index", "write_index", "Store", "open_store", "prepare_store"]

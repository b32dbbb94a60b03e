"""Root conftest. The plugin itself is loaded through its `pytest11` entry point once the
package is installed (`make` does that); nothing else needs wiring here."""

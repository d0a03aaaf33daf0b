"""Activities: everything that touches the world. Classes are built in the worker with their
clients passed in; workflows call them by the names in `aios.vocabulary.Activity`."""

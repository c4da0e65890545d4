"""Using trained models: ``load`` a name, an export or a workdir and call it on texts
(``translator.py``); named models and their download (``hub.py``); the persistent
compilation cache (``compilation.py``)."""

"""``selmirror serve``: the mirror over HTTP, as a PEP 503/691 index (with optional uploads).

What it answers, under the prefix (``/simple/`` by default; ``DIR`` is the local folder)::

    GET PREFIX                       the root list       DIR/index.html | DIR/index.v1_json
    GET PREFIX<project>/             a project page      DIR/<project>/index.html | index.v1_json
    GET PREFIX<project>/<file>       a file, or its ``.metadata``, as written by the mirror
    GET /health                      200 ``{"status": "ok"}`` while the process runs
    GET /ready                       200 when DIR has a root page (503 if not), with the age
                                     of the last completed sync
    POST / and POST PREFIX           an upload (``--upload-htpasswd``; else 405)

Pages are negotiated (PEP 691): ``Accept`` q-values are honoured (``q=0`` never), JSON is
``application/vnd.pypi.simple.v1+json`` (also for ``latest+json``), HTML is
``application/vnd.pypi.simple.v1+html`` when asked by that name (or ``latest+html``) and
``text/html`` otherwise, including for no ``Accept``, ``*/*`` and ties; ``?format=TYPE``
overrides ``Accept``; nothing acceptable is ``406``. Every page answer, 304 and 406 carries
``Vary: Accept, Accept-Encoding``. Pages have a strong ``ETag`` (per representation and
encoding), ``Last-Modified``, ``Cache-Control: max-age=N, must-revalidate`` (N from
``--page-max-age``, 60 by default) and gzip when asked. Files and ``.metadata`` have
``ETag``, ``Last-Modified``, ``Cache-Control: public, max-age=31536000, immutable``,
``Accept-Ranges: bytes``, ``206``/``416`` for ranges, and ``304`` for a matching
``If-None-Match`` or ``If-Modified-Since``.

A non-normalized project name (``Foo_Bar``) is redirected (301) to its normalized form, a
project URL without its slash to the URL with it. Only names shaped like a distribution
file (a wheel or sdist filename, or one with ``.metadata``) are served from a project
folder: never a dotfile, ``.selmirror/``, ``.selmirror.lock``, a temp file, a page by its
file name, ``..``, an encoded separator, or a symlink that leaves the tree (all ``404``).
"""

"""Planning training runs in the app process: the run folder and worker job (``launch``) and the VRAM estimate
(``vram``). The training itself runs in ``model.train_worker``."""

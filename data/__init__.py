"""The data side: image sources (``sources``, paired layouts in ``pairs``), degradations
synthesized on the fly (``degradations``, with blur kernels in ``motion_blur`` and rain streaks
in ``rain``), evaluation seeds (``seeding``), patch and whole-image datasets
(``datasets``, ``transforms``), the DDP evaluation sampler (``samplers``) and the
LightningDataModule (``datamodule``). Imports the core of ``panet`` (imaging), never
``callbacks`` or the application layer."""

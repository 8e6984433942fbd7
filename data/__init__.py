"""The data side: image sources (``sources``), degradations synthesized on the fly
(``degradations``), evaluation seeds (``seeding``), patch and whole-image datasets
(``datasets``, ``transforms``), the DDP evaluation sampler (``samplers``) and the
LightningDataModule (``datamodule``). Imports the core of ``panet`` (imaging), never
``callbacks`` or the application layer."""

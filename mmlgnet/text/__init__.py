"""The language side: class prompts, text encoders and the validated cache of class text embeddings.

Import the modules themselves (e.g. `from mmlgnet.text.embeddings import class_text_embeddings`): this package
file imports nothing, so that importing one text module does not load every encoder.
"""

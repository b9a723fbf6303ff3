"""Images from any folder (torchvision's ImageFolder layout): `<root>/<class>/*`, or
`<root>/{train,val,test}/<class>/*`, in any common format and mode, prepared once into the
shared uint8 image set (fidle_runs.data.images) at `data.size` in `data.mode`. Imports core and
data's shared modules (images, subsets, in_memory); never another family's folder."""

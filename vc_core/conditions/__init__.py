"""Turn user inputs (videos, images, masks, strokes) into VideoComposer condition tensors."""

"""Class names of MNIST and Fashion-MNIST, in label order (FIDLE MNIST1/2 plot digits by label)."""

MNIST_CLASSES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                         "Sneaker", "Bag", "Ankle boot")
CLASSES = {"mnist": MNIST_CLASSES, "fashion_mnist": FASHION_MNIST_CLASSES}

"""A small model zoo in MXNet 1.x Gluon style (``hybrid_forward(self, F, x)``, ``with
self.name_scope():``, ``F.Convolution``/``F.Pooling``/``F.FullyConnected`` on Parameters from
``self.params.get``), ResNet v1 and v2 basic blocks as in 1.x's model_zoo.

``models(mx)`` builds the classes on an ``mx`` module: real MXNet 1.9.1 in
tests/data/legacy_zoo/gen_zoo.py, mxgluon in tests/test_legacy_zoo.py, from the same code."""
import types


def models(mx):
    nn = mx.gluon.nn
    HybridBlock = mx.gluon.HybridBlock

    def conv3x3(channels, stride, in_channels):
        return nn.Conv2D(channels, kernel_size=3, strides=stride, padding=1, use_bias=False, in_channels=in_channels)

    class BasicBlockV1(HybridBlock):
        """conv-bn-relu-conv-bn plus the (downsampled) input, then relu."""

        def __init__(self, channels, stride, downsample=False, in_channels=0, **kwargs):
            super().__init__(**kwargs)
            self.body = nn.HybridSequential(prefix="")
            self.body.add(conv3x3(channels, stride, in_channels))
            self.body.add(nn.BatchNorm())
            self.body.add(nn.Activation("relu"))
            self.body.add(conv3x3(channels, 1, channels))
            self.body.add(nn.BatchNorm())
            if downsample:
                self.downsample = nn.HybridSequential(prefix="")
                self.downsample.add(nn.Conv2D(channels, kernel_size=1, strides=stride, use_bias=False,
                                              in_channels=in_channels))
                self.downsample.add(nn.BatchNorm())
            else:
                self.downsample = None

        def hybrid_forward(self, F, x):
            residual = x
            x = self.body(x)
            if self.downsample:
                residual = self.downsample(residual)
            return F.Activation(residual + x, act_type="relu")

    class BasicBlockV2(HybridBlock):
        """Pre-activation: bn-relu-conv-bn-relu-conv plus the (projected) input."""

        def __init__(self, channels, stride, downsample=False, in_channels=0, **kwargs):
            super().__init__(**kwargs)
            self.bn1 = nn.BatchNorm()
            self.conv1 = conv3x3(channels, stride, in_channels)
            self.bn2 = nn.BatchNorm()
            self.conv2 = conv3x3(channels, 1, channels)
            if downsample:
                self.downsample = nn.Conv2D(channels, 1, stride, use_bias=False, in_channels=in_channels)
            else:
                self.downsample = None

        def hybrid_forward(self, F, x):
            residual = x
            x = F.Activation(self.bn1(x), act_type="relu")
            if self.downsample:
                residual = self.downsample(x)
            x = self.conv1(x)
            x = F.Activation(self.bn2(x), act_type="relu")
            x = self.conv2(x)
            return x + residual

    class TinyResNet(HybridBlock):
        """A stem convolution (F.Convolution on a Parameter), two stages of ``block``, global average
        pooling, F.Flatten and F.FullyConnected."""

        def __init__(self, block, channels=(2, 4), classes=3, **kwargs):
            super().__init__(**kwargs)
            c0, c1 = channels
            self._c0, self._classes = c0, classes
            with self.name_scope():
                self.stem_weight = self.params.get("stem_weight", shape=(c0, 3, 3, 3))
                self.stem_bn = nn.BatchNorm(in_channels=c0)
                self.features = nn.HybridSequential()
                with self.features.name_scope():
                    self.features.add(block(c0, 1, False, in_channels=c0))
                    self.features.add(block(c1, 2, True, in_channels=c0))
                self.fc_weight = self.params.get("fc_weight", shape=(classes, c1))
                self.fc_bias = self.params.get("fc_bias", shape=(classes,), init="zeros")

        def hybrid_forward(self, F, x, stem_weight, fc_weight, fc_bias):
            x = F.Convolution(x, stem_weight, kernel=(3, 3), pad=(1, 1), num_filter=self._c0, no_bias=True)
            x = F.Activation(self.stem_bn(x), act_type="relu")
            x = self.features(x)
            x = F.Pooling(x, kernel=(1, 1), global_pool=True, pool_type="avg")
            x = F.Flatten(x)
            return F.FullyConnected(x, fc_weight, fc_bias, num_hidden=self._classes)

    return types.SimpleNamespace(BasicBlockV1=BasicBlockV1, BasicBlockV2=BasicBlockV2, TinyResNet=TinyResNet)


def train_step(mx, net, x, label, lr=0.1):
    """One SGD step on the softmax cross-entropy of ``net(x)``; returns the loss per sample."""
    trainer = mx.gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": lr})
    loss_fn = mx.gluon.loss.SoftmaxCrossEntropyLoss()
    with mx.autograd.record():
        loss = loss_fn(net(x), label)
    loss.backward()
    trainer.step(x.shape[0])
    return loss

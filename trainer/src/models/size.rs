//! How large the networks of a [`ModelSpec`] are, worked out from the spec without building them:
//! the training memory budget (`crate::budget`) needs these numbers before anything is allocated,
//! since an accepted option such as `--image-size 1024` gives an MLP a billion parameters.

use super::{Arch, ModelSpec, ToyNet};

/// One network's size: every stored value (parameters and batch-norm statistics), and the values
/// one sample's forward pass produces.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetSize {
    pub values: u64,
    pub activations_per_sample: u64,
}

impl NetSize {
    fn linear(&mut self, inputs: u64, outputs: u64) {
        self.values += inputs * outputs + outputs;
        self.activations_per_sample += outputs;
    }

    /// Scale, shift and the two running statistics; the normalised copy of its input.
    fn batch_norm(&mut self, channels: u64, per_sample: u64) {
        self.values += 4 * channels;
        self.activations_per_sample += per_sample;
    }

    /// A k x k convolution (either direction) producing `pixels` outputs per channel; its
    /// unfolded input (`cin * k * k` per output pixel) is held too.
    fn conv(&mut self, cin: u64, cout: u64, k: u64, pixels: u64) {
        self.values += cin * cout * k * k + cout;
        self.activations_per_sample += cout * pixels + cin * k * k * pixels;
    }

    fn embedding(&mut self, classes: u64, dim: u64) {
        self.values += classes * dim;
        self.activations_per_sample += dim;
    }
}

/// The generator's and the discriminator's sizes.
pub fn of(spec: &ModelSpec) -> (NetSize, NetSize) {
    match spec.arch {
        Arch::Mlp => mlp(spec),
        Arch::Dcgan => dcgan(spec),
        Arch::Toy => toy(spec),
    }
}

/// Sizes as u64, so that products of hostile sizes cannot overflow in practice.
struct Dims {
    latent: u64,
    classes: u64,
    embed: u64,
    c: u64,
    h: u64,
    w: u64,
    pack: u64,
}

fn dims(spec: &ModelSpec) -> Dims {
    let embed = if spec.conditional() {
        spec.embed_dim
    } else {
        0
    };
    Dims {
        latent: spec.latent_dim as u64,
        classes: spec.num_classes as u64,
        embed: embed as u64,
        c: spec.channels as u64,
        h: spec.height as u64,
        w: spec.width as u64,
        pack: spec.pack as u64,
    }
}

/// The class embedding of the generator's input and of a dense discriminator's.
fn label(net: &mut NetSize, d: &Dims) {
    if d.classes > 0 {
        net.embedding(d.classes, d.embed);
    }
}

fn mlp(spec: &ModelSpec) -> (NetSize, NetSize) {
    let d = dims(spec);
    let mut g = NetSize::default();
    label(&mut g, &d);
    let widths = [128u64, 256, 512, 1024];
    g.linear(d.latent + d.embed, widths[0]);
    for pair in widths.windows(2) {
        g.linear(pair[0], pair[1]);
        g.batch_norm(pair[1], pair[1]);
    }
    g.linear(widths[3], d.c * d.h * d.w);
    (g, dense_d(&d, &[(512, 512), (256, 256)]))
}

fn dcgan(spec: &ModelSpec) -> (NetSize, NetSize) {
    let d = dims(spec);
    let (h2, w2, h4, w4) = (d.h / 2, d.w / 2, d.h / 4, d.w / 4);
    let [g0, g1] = super::dcgan::g_channels(spec).map(|c| c as u64);
    let [d0, d1] = super::dcgan::d_channels(spec).map(|c| c as u64);
    let mut g = NetSize::default();
    label(&mut g, &d);
    g.linear(d.latent + d.embed, g0 * h4 * w4);
    g.batch_norm(g0, g0 * h4 * w4);
    g.conv(g0, g1, 4, h2 * w2);
    g.batch_norm(g1, g1 * h2 * w2);
    g.conv(g1, d.c, 4, d.h * d.w);
    let mut dn = NetSize::default();
    let features = d1 * h4 * w4;
    if d.classes > 0 {
        dn.embedding(d.classes, features);
    }
    dn.conv(d.pack * (d.c + d.classes), d0, 4, h2 * w2);
    dn.conv(d0, d1, 4, h4 * w4);
    dn.linear(features, 1);
    (g, dn)
}

fn toy(spec: &ModelSpec) -> (NetSize, NetSize) {
    let d = dims(spec);
    let (g_width, g_layers, d_width, d_layers, pieces, bn) = match spec.toy_net {
        ToyNet::Small => (128, 2, 128, 2, 1, false),
        ToyNet::Large => (400, 4, 200, 3, 5, true),
    };
    let mut g = NetSize::default();
    label(&mut g, &d);
    let mut width = d.latent + d.embed;
    for _ in 0..g_layers {
        g.linear(width, g_width);
        if bn {
            g.batch_norm(g_width, g_width);
        }
        width = g_width;
    }
    g.linear(width, d.c * d.h * d.w);
    let widths: Vec<(u64, u64)> = (0..d_layers).map(|_| (d_width * pieces, d_width)).collect();
    (g, dense_d(&d, &widths))
}

/// `DenseD`: the class embedding, hidden layers of (outputs, passed on), one logit.
fn dense_d(d: &Dims, widths: &[(u64, u64)]) -> NetSize {
    let mut net = NetSize::default();
    label(&mut net, d);
    let mut fan_in = d.pack * (d.c * d.h * d.w + d.embed);
    for &(outputs, passed) in widths {
        net.linear(fan_in, outputs);
        fan_in = passed;
    }
    net.linear(fan_in, 1);
    net
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::Gan;

    fn stored(p: &crate::models::params::ParamStore) -> u64 {
        p.all()
            .values()
            .map(|v| v.as_tensor().elem_count() as u64)
            .sum()
    }

    #[test]
    fn sizes_match_the_built_networks() {
        let base = ModelSpec {
            arch: Arch::Mlp,
            latent_dim: 100,
            num_classes: 0,
            embed_dim: 0,
            channels: 1,
            height: 28,
            width: 28,
            pack: 1,
            toy_net: ToyNet::Small,
            g_width: 1,
            d_width: 1,
        };
        let cond = ModelSpec {
            num_classes: 10,
            embed_dim: 10,
            pack: 2,
            ..base.clone()
        };
        let toy = ModelSpec {
            arch: Arch::Toy,
            latent_dim: 2,
            channels: 2,
            height: 1,
            width: 1,
            ..base.clone()
        };
        let mut specs = vec![toy.clone()];
        for arch in [Arch::Mlp, Arch::Dcgan] {
            specs.push(ModelSpec {
                arch,
                ..base.clone()
            });
            specs.push(ModelSpec {
                arch,
                channels: 3,
                ..cond.clone()
            });
        }
        specs.push(ModelSpec {
            arch: Arch::Dcgan,
            g_width: 2,
            d_width: 3,
            ..cond.clone()
        });
        specs.push(ModelSpec {
            toy_net: ToyNet::Large,
            pack: 3,
            ..toy
        });
        for spec in specs {
            let gan = Gan::new(&spec, &candle_core::Device::Cpu, 0).unwrap();
            let (g, d) = of(&spec);
            assert_eq!(g.values, stored(&gan.g_params), "G of {spec:?}");
            assert_eq!(d.values, stored(&gan.d_params), "D of {spec:?}");
        }
    }
}

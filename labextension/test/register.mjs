// Lets Node run the panel's compiled modules (lib/, ES modules without file extensions) in tests:
// an extensionless relative import resolves to its ".js" file, and the REST client (./handler)
// to a stub, since the tests give the model its data themselves.
import { register } from 'node:module';

register('./resolve.mjs', import.meta.url);
